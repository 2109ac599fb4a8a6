// How many frames all upstream connections together may read in one turn of the event loop. A socket read takes
// whatever the kernel holds (libuv reads a readable socket up to 32 times 64 KB in one go), and ws emits every frame
// in it at once: in a burst of 6,500 commits on 20 hosts the main thread read 1,716 frames in one turn and 4,370 in
// the next (84 and 94 ms) before anything read could be verified or committed (docs/perf-journal.md, session 27).
// Past the budget, a connection pauses its socket until the next turn: the frames of the chunk in hand are still
// delivered, in order, and nothing is dropped; the verify pool's and the sequencer's turns come in between.
// A connection reading alone is not held (no other read in this turn or the last): one host at its fastest lost a
// fifth of its rate when paused every 512 frames (and spent more CPU a commit), while eight hosts at once kept
// their gain without holding a lone one (docs/perf-journal.md, session 27).

export interface ReadTurns {
  /**
   * Counts a frame `reader` read; false once this turn's budget is spent, unless the reader has been alone in this
   * turn and the last (the reader should then `wait`).
   */
  take(reader: object): boolean;
  /** Calls `resume` at the start of the next turn, when the budget is whole again. */
  wait(resume: () => void): void;
}

export function createReadTurns(framesPerTurn: number, nextTurn: (fn: () => void) => void = setImmediate): ReadTurns {
  if (!(framesPerTurn >= 1)) throw new Error(`framesPerTurn must be at least 1, got ${framesPerTurn}`);
  let left = framesPerTurn;
  let scheduled = false;
  let waiting: Array<() => void> = [];
  /** The turn's first reader, whether any other has read since, and whether the last turn had several. */
  let first: object | null = null;
  let shared = false;
  let sharedLast = false;
  const schedule = () => {
    if (scheduled) return;
    scheduled = true;
    nextTurn(() => {
      scheduled = false;
      left = framesPerTurn;
      first = null;
      sharedLast = shared;
      shared = false;
      const resumed = waiting;
      waiting = [];
      for (const resume of resumed) resume();
    });
  };
  return {
    take(reader) {
      schedule();
      if (first === null) first = reader;
      else if (first !== reader) shared = true;
      return --left >= 0 || !(shared || sharedLast);
    },
    wait(resume) {
      waiting.push(resume);
      schedule();
    },
  };
}
