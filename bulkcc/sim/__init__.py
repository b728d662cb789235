"""The simulator: a local stand-in for Dialpad's call center API, on loopback.

Owns the aiohttp server (`server`) and what it reads and writes per request
(`wire`), its rate limit's models with other integrations' load (`limits`), a
virtual clock to rehearse a client against them in-process (`virtual`), its store of
call centers and the rules a PATCH must keep (`store`), the state file that
keeps them between commands (`state`), and the OpenAPI check of bodies
(`apispec`, the only user of jsonschema). It reads its rules from the OpenAPI
file and the PATCH reference, never from bulkcc's field table, so a mistake in
the client's table shows up as a refused request. Nothing on the real-API path
imports it: only `bulkcc simulate` and the `--simulator` hook in
`bulkcc.send.connection`.
"""
