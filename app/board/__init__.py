"""The live board: deltas after commit, a hub with bounded per-client queues, the websocket."""
