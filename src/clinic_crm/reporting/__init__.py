"""Files written for people to open (spreadsheets): the one place that makes them safe to open."""

from clinic_crm.reporting.csv_out import FORMULA_PREFIXES, Cell, safe_cell, write_csv

__all__ = ["FORMULA_PREFIXES", "Cell", "safe_cell", "write_csv"]
