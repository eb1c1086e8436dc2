"""FinOps: the portal's own traffic, what it costs on Lambda and on EKS, and when to migrate."""
