"""Sending: the only code that talks HTTP to Dialpad.

Owns where requests go and with which key (`target`), pacing and retry policy
(`pacing`), one paced, retrying call (`client`), reading one answer (`answers`: bounded,
parsed, its message), the one choke point every answer's
text passes before anything stores it (`scrub`: the key out, control characters
made visible), the worker pool (`pool`) and
opening a session on a target (`connection`). Everything it needs (session,
pacer, retry policy, budget, clock) is passed in, so tests drive it against the
simulator. May import only the bottom layer; the simulator is reached through
one lazy hook in `connection`, taken only when `--simulator` is chosen.
"""
