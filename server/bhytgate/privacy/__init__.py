"""The holder's data rights (Law 91/2025/QH15, Decree 356/2025/NĐ-CP): consent terms, retention
periods, and the data-subject export, as pure functions and small typed classes."""
