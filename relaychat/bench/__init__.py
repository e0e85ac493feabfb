"""`relaychat bench`: what the relay itself costs on the servers at hand, scenario by scenario."""
