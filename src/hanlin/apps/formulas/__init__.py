"""Spreadsheet formulas: generate from a request, execute on the real workbook, explain, browse functions."""
