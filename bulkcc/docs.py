"""`python -m bulkcc.docs`: regenerate docs/columns.md (see bulkcc.workbook.docs)."""

from bulkcc.workbook.docs import write_columns_doc

if __name__ == "__main__":
    print(f"wrote {write_columns_doc()}")
