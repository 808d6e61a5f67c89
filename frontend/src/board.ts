// The websocket board client: auth, subscribe, snapshot then deltas by per-view sequence,
// resync on a gap or when the server says we fell behind, heartbeats, reconnect with backoff.

// Frames and messages are the service's (src/openapi.ts, generated; docs/board-protocol.md).
import type { BoardFrame as Frame, Change, ClientMessage, ViewData } from "./model";

export type { Change };
export type ViewState = { seq: number; data: ViewData; updatedAt: number };
export type Connection = "connecting" | "live" | "reconnecting" | "unauthorized";

export class BoardClient {
  private ws: WebSocket | null = null;
  private views = new Map<string, ViewState>();
  private pending = new Map<string, { seq: number; changes: Change[] }[]>();
  private wanted = new Set<string>();
  private retry = 0;
  private closed = false;

  constructor(
    private token: string,
    private onChange: (view: string, state: ViewState) => void,
    private onConnection: (state: Connection, detail?: string) => void,
    private apply: (view: string, data: ViewData, changes: Change[]) => ViewData,
  ) {}

  connect(): void {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}/ws`);
    this.ws = ws;
    this.onConnection(this.retry ? "reconnecting" : "connecting");
    ws.onopen = () => ws.send(JSON.stringify({ type: "auth", token: this.token }));
    ws.onmessage = (event) => this.handle(JSON.parse(event.data) as Frame);
    ws.onclose = (event) => {
      if (this.closed) return;
      if (event.code === 4401) return this.onConnection("unauthorized");
      this.onConnection("reconnecting");
      const delay = Math.min(10000, 500 * 2 ** this.retry++);
      setTimeout(() => this.connect(), delay);
    };
  }

  close(): void {
    this.closed = true;
    this.ws?.close();
  }

  subscribe(view: string): void {
    this.wanted.add(view);
    this.send({ type: "subscribe", view });
  }

  unsubscribe(view: string): void {
    this.wanted.delete(view);
    this.views.delete(view);
    this.send({ type: "unsubscribe", view });
  }

  private send(message: ClientMessage): void {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  }

  private handle(frame: Frame): void {
    switch (frame.type) {
      case "ready":
        this.retry = 0;
        this.onConnection("live");
        for (const view of this.wanted) this.send({ type: "subscribe", view });
        break;
      case "snapshot": {
        const state = { seq: frame.seq, data: this.apply(frame.view, frame.data, []), updatedAt: Date.now() };
        // Deltas that arrived before the snapshot: keep those newer than it (they are absolute
        // values, so applying one the snapshot already includes is harmless).
        for (const delta of this.pending.get(frame.view) ?? []) {
          if (delta.seq > state.seq) {
            state.data = this.apply(frame.view, state.data, delta.changes);
            state.seq = delta.seq;
          }
        }
        this.pending.delete(frame.view);
        this.views.set(frame.view, state);
        this.onChange(frame.view, state);
        break;
      }
      case "delta": {
        const state = this.views.get(frame.view);
        if (!state) {
          const list = this.pending.get(frame.view) ?? [];
          list.push({ seq: frame.seq, changes: frame.changes });
          this.pending.set(frame.view, list);
          return;
        }
        if (frame.seq <= state.seq) return;
        if (frame.seq !== state.seq + 1) {
          // A gap: we missed a frame. Reload the view rather than show a wrong number.
          this.views.delete(frame.view);
          this.send({ type: "resync", view: frame.view });
          return;
        }
        const next = {
          seq: frame.seq,
          data: this.apply(frame.view, state.data, frame.changes),
          updatedAt: Date.now(),
        };
        this.views.set(frame.view, next);
        this.onChange(frame.view, next);
        break;
      }
      case "resync":
        for (const view of frame.views) {
          this.views.delete(view);
          this.send({ type: "resync", view });
        }
        break;
      case "ping":
        this.send({ type: "pong" });
        break;
      case "error":
        console.warn("board error", frame);
        break;
    }
  }
}
