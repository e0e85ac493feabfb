"""Projection: what a relay trace would take on another pair of servers, from a cost model of that pair."""
