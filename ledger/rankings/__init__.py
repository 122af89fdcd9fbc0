"""Rankings (评先评优) and targets (目标考核).

`definitions` (the 评选办法: rules, tie-breaks, periods, cut-offs) → `sql` (levels 0-2: the
ledger summed per record and subject) → `rank_sql` (levels 3-5: eligibility, rank, quota,
entries) → `runs` (reproducible snapshots, publication) → `notices` (公示, objections, the
final word); `targets` (目标考核) reads `sql` too; `exports` and `describe` shape both for people.
"""
