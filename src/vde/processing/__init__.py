"""Pure processing functions: no database, clock or logging inside."""
