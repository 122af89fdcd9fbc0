"""What verify reports: the counts, and each problem in the words every engine reports."""
from __future__ import annotations

from dataclasses import dataclass, field

LIMIT = 20  # problems named per check


@dataclass
class VerifyReport:
    """What verify found: ok, counts, and the problems with the first offending rows."""

    transactions: int = 0
    postings: int = 0
    accounts: int = 0
    checkpoints: int = 0
    certificates: int | None = None  # checked by `ledger.audit.verify` (None: not checked)
    problems: list[dict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing differs."""
        return not self.problems

    def as_dict(self) -> dict:
        """The report as JSON-ready data."""
        return {"ok": self.ok, "transactions": self.transactions, "postings": self.postings,
                "accounts": self.accounts, "checkpoints": self.checkpoints,
                **({} if self.certificates is None else {"certificates": self.certificates}),
                "problems": self.problems}



def hash_problem(tx_id: int) -> dict:
    return {"check": "transaction_hash", "table": "transactions", "row": tx_id,
            "detail": "content does not match its hash"}


def date_problem(tx_id: int) -> dict:
    return {"check": "posting_date", "table": "postings", "row": tx_id,
            "detail": "a posting's date differs from its transaction"}


def key_problem(tx_id: int, wrong: str) -> dict:
    """`wrong`: "missing" (no key row), "orphan" (no transaction), else the differing fields."""
    if wrong == "missing":
        detail = "the transaction has no row in transaction_keys"
    elif wrong == "orphan":
        detail = "a key row names no transaction"
    else:
        fields = wrong.split(",")
        detail = (f"the key row's {', '.join(fields)} {'differs' if len(fields) == 1 else 'differ'} "
                  f"from its transaction's")
    return {"check": "transaction_key", "table": "transaction_keys", "row": tx_id, "detail": detail}


def orphan_problem(tx_id: int, postings: int) -> dict:
    """`postings` postings name the transaction `tx_id`, which does not exist."""
    named = "1 posting names" if postings == 1 else f"{postings} postings name"
    return {"check": "posting_orphan", "table": "postings", "row": tx_id,
            "detail": f"{named} transaction {tx_id}, which does not exist"}


def balanced_problem(tx_id: int, uom: str, total) -> dict:
    return {"check": "balanced", "table": "transactions", "row": tx_id,
            "detail": f"{uom} postings sum to {total}, not 0"}


def balance_problem(account: int, cached, total) -> dict:
    return {"check": "balance", "table": "accounts", "row": account,
            "detail": f"cached balance {cached} but postings sum to {total}"}


def year_problem(volunteer_id: int, on_year: int, minutes, total) -> dict:
    return {"check": "year_minutes", "table": "volunteer_year_minutes", "row": volunteer_id,
            "year": on_year, "detail": f"volunteer {volunteer_id} has {minutes} minutes cached for "
                                       f"{on_year} but the postings sum to {total}"}


def checkpoint_problem(checkpoint_id: int, period: str) -> dict:
    return {"check": "checkpoint", "table": "checkpoints", "row": checkpoint_id,
            "detail": f"checkpoint {period} does not match the transactions it seals"}


def signature_problem(checkpoint_id: int, period: str) -> dict:
    return {"check": "checkpoint_signature", "table": "checkpoints", "row": checkpoint_id,
            "detail": f"checkpoint {period} is not signed by this deployment's key"}


def unkeyed_problem(tx_id: int) -> dict:
    """The transaction's hash is the unkeyed SHA-256 of before revision 0017: `ledger rehash`."""
    return {"check": "transaction_hash", "table": "transactions", "row": tx_id,
            "detail": "hashed without the ledger key, as before revision 0017: run `ledger rehash` once if "
                      "this ledger was never re-hashed; otherwise the row was written behind the ledger's back"}
