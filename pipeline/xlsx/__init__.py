"""Low-level workbook parts: the zip package, sheet XML, the data sheet, statement sheets, pivots.

Nothing here knows the warehouse; `pipeline.workbooks` feeds these modules rows and settings.
A workbook is edited at the package level: the parts Ledgerline owns are written anew and every
other zip member is copied with its compressed bytes unchanged, so whatever a user built in
Excel (charts, shapes, VBA, sparklines, validations) survives a refresh exactly as it was.
"""
