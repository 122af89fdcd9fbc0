"""The volunteer hours, points and incentive ledger: the domain core.

Design overview
---------------
* A transaction (one business event: service credited, points awarded, redemption,
  reversal, transfer, expiry, adjustment) has postings; its postings sum to zero per unit
  of measure (MIN = minutes of service, PTS = points).  Amounts are integers, never floats.
* Nothing posted changes: transactions, postings, star events, checkpoints, policy versions
  and the audit log refuse UPDATE and DELETE in the database itself (triggers on PostgreSQL
  and SQLite).  A mistake is corrected by a reversal that names the original; a reversal is
  never reversed, and nothing is reversed twice.
* Every write is idempotent: client writes carry an idempotency key whose first result is
  stored with the write; ledger transactions carry a unique natural key.
* Balances are cached per account in the same database transaction as the postings;
  `audit.verify` (the book's `verify`, then the certificates) recomputes them, every content
  hash (an HMAC under the ledger key), and the checkpoint chain (signed with the deployment's
  key); neither key is ever in the database (`book.keys`).
* Stars (星级) come from hours, never from spendable points.
* This package imports neither FastAPI nor APScheduler; `api/` and `jobs/` are thin layers.

Where each concept lives (one package each, pure rules at the bottom, then use cases, then
`tables.py`; import-linter keeps the layers: concepts → book/people → store → errors/settings)
---------------------------------------------------------------------------------------------
* `book/`        accounts, balanced append-only postings, amounts, content hash, checkpoints, verify.
* `people/`      org tree (中心/所/站/点) and teams, volunteers, ID numbers, users, scopes, sign-in,
                 applications to join from the phone (实名注册), the public forms' challenge.
* `incentives/`  the policy document (嘉许激励办法), how a point is priced, caps, stars (星级), expiry, what-if.
                 Pure rules at the bottom: `policy.Policy.price` (a service's price), `caps` (the caps
                 per scope), `stars` (the level for given hours and dates), `funding` (who funds a
                 point, the version in force); the single path (`pricing`), the batch path
                 (`service.bulk`), repricing and the daily star review (`star_review`) call them.
* `service/`     activities, service records and their two-person approval, ratings (评单), 台账 imports, bulk;
                 the service loop: orders (点单 → 派单 → 接单 → 评单/投诉, state derived from append-only
                 `order_events` in `order_rules`), recruitment and sign-up (`signup`, the quota held by
                 the recruitment's row lock), check-in with a rotating HMAC code (`checkin`: a pair
                 proposes a pending record, what does not add up is flagged), reports (`order_reports`).
* `redemption/`  desks (爱心超市), catalogue and stock, who may redeem and how, reservations.
* `transfers/`   moves between units (转移接续) and signed packages between deployments.
* `rankings/`    ranking definitions and reproducible runs (评先评优, also as of a 截至日期), public notice (公示)
                 and objections, exports, targets (目标考核).
* `volunteer_view/`  a volunteer's figures and history, self-service, certificates (志愿服务证明).
* `store/`       engines, unit of work, use-case runners, idempotency, job runs, partitions, audit log.
* `schema.py` registers every table (Alembic's env); `demo.py` seeds the demo county.

Global `before_commit` listeners (on every SQLAlchemy session, registered on import):
`book.accounts.apply_deferred_balances` adds the counter-side balance changes a unit of work
deferred, and `redemption.stock.apply_deferred_stock` applies deferred stock moves (refusing
stock below zero), both in id order just before COMMIT; both are forgotten on rollback.  What
a session remembers between statements is `store.session_state.SessionState`, nothing else.
"""
