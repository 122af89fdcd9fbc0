"""Rankings (评先评优) and targets (目标考核): definitions, reproducible runs, publication, exports."""
