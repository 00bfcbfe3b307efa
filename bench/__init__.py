"""Benchmarks, run on demand (`make bench`), that print ratios against a floor measured in the same run.

- `floor`: a plain Starlette + asyncpg app that reads the same 20 agents and returns JSON, the cost
  of the request if GraphQL, auth and the ORM cost nothing;
- `load`: the load generator, always run as a separate process;
- `fanout`: N WebSocket subscribers on one fresh API process, commit-to-delivery latency and memory
  per idle subscription;
- `subscribers`: one process holding many graphql-transport-ws subscriptions, driven by `fanout`;
- `__main__`: migrates, starts the servers, seeds, runs each scenario and prints the table.
"""
