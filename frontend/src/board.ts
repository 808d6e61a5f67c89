// The websocket board client: auth, subscribe, snapshot then deltas by per-view sequence,
// resync on a gap or when the server says we fell behind, heartbeats, reconnect with backoff.

// Frames and messages are the service's (src/openapi.ts, generated; docs/board-protocol.md).
import { NeedsSnapshot, type BoardFrame as Frame, type Change, type ClientMessage, type ViewData } from "./model";

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

  /** The view with these changes, or null when they need what it does not hold: then the view
   * is reloaded (a new snapshot), as on a gap. */
  private applied(view: string, data: ViewData, changes: Change[]): ViewData | null {
    try {
      return this.apply(view, data, changes);
    } catch (error) {
      if (!(error instanceof NeedsSnapshot)) throw error;
      this.views.delete(view);
      this.send({ type: "resync", view });
      return null;
    }
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
        const early = this.pending.get(frame.view) ?? [];
        this.pending.delete(frame.view);
        for (const delta of early) {
          if (delta.seq > state.seq) {
            const data = this.applied(frame.view, state.data, delta.changes);
            if (data === null) return;
            state.data = data;
            state.seq = delta.seq;
          }
        }
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
        const data = this.applied(frame.view, state.data, frame.changes);
        if (data === null) return;
        const next = { seq: frame.seq, data, updatedAt: Date.now() };
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
