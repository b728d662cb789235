"""bulkcc: change many Dialpad call centers at once from an Excel workbook."""

__version__ = "0.1.0"
