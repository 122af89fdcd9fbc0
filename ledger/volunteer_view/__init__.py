"""The volunteer's own view: figures and history (lookup), self-service, certificates (志愿服务证明)."""
