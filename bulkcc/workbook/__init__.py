"""Workbooks: the files bulkcc reads and writes.

Owns the layout (sheet names, the Results columns: `layout`), reading a workbook
or CSV into raw cells (`reader`, over `inputfile`: only regular files of bounded
size; `csvtext`: CSV in any separator and encoding Excel writes; `sheetxml`: what
only the sheet's XML says, such as error cells; `hidden`: the warnings for what is
hidden on screen; `grid`: a sheet's cells as one matrix, blanks found column-wise;
`opsheet`: the operators sheet, through the same reader), safe xlsx writing (`xlsx`: text stays text,
atomic saves), how every sheet reads on screen and on paper (`paper`: row heights
of wrapped text, page setup, print titles and areas), the template and export
format (`template`, its Columns and README sheets: `reference`), the results
workbook (`results`, and its Operators sheet: `operator_results`), a rollback's
created sheet (`created`) and its other sheets (`rollback_book`), the review workbook of a plan (`review`) and the
generated column docs (`docs`). May import only
the field tables (`fields`, `operator_fields`) and the bottom layer (`errors`,
`values`, `status`).
"""
