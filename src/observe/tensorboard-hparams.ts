/**
 * TensorBoard HParams summaries, hand-encoded like the rest of the event file
 * (proto/tensorboard/hparams.proto has the schema; the test decodes with it). A run writes the
 * experiment (which settings and metrics exist), its session's settings at the start, and the
 * session's end with its status: TensorBoard's HParams tab then lists runs side by side, one row
 * each, with their settings and final metrics.
 */
import { ProtoWriter } from './tensorboard-proto';

export const HPARAMS_PLUGIN = 'hparams';
export const EXPERIMENT_TAG = '_hparams_/experiment';
export const SESSION_START_TAG = '_hparams_/session_start_info';
export const SESSION_END_TAG = '_hparams_/session_end_info';

export type HParamValue = number | string | boolean;

export interface HParamsMetric {
  /** The run under the session that holds the scalar ('' = the session's own run), e.g. 'validation'. */
  group: string;
  tag: string;
  dataset: 'training' | 'validation' | 'unknown';
  description?: string;
}

export type SessionStatus = 'success' | 'failure' | 'running';

const DATA_TYPE = { string: 1, boolean: 2, number: 3 } as const;
const DATASET = { unknown: 0, training: 1, validation: 2 } as const;
const STATUS = { success: 1, failure: 2, running: 3 } as const;

/** google.protobuf.Value of a scalar: number_value 2, string_value 3, bool_value 4. */
function protoValue(w: ProtoWriter, v: HParamValue): void {
  if (typeof v === 'number') w.double(2, v);
  else if (typeof v === 'string') w.string(3, v);
  else w.varint(4, v ? 1 : 0);
}

export function experimentContent(
  name: string,
  createdSecs: number,
  hparams: Record<string, HParamValue>,
  metrics: readonly HParamsMetric[],
): Uint8Array {
  return new ProtoWriter()
    .message(2, (e) => {
      e.string(6, name).double(3, createdSecs);
      for (const [key, value] of Object.entries(hparams))
        e.message(4, (h) => h.string(1, key).varint(4, DATA_TYPE[typeof value as 'string' | 'boolean' | 'number']));
      for (const m of metrics) {
        e.message(5, (mi) => {
          mi.message(1, (n) => n.string(1, m.group).string(2, m.tag));
          if (m.description !== undefined) mi.string(4, m.description);
          if (DATASET[m.dataset] !== 0) mi.varint(5, DATASET[m.dataset]);
        });
      }
    })
    .finish();
}

export function sessionStartContent(
  hparams: Record<string, HParamValue>,
  startSecs: number,
  modelUri: string,
): Uint8Array {
  return new ProtoWriter()
    .message(3, (s) => {
      for (const [key, value] of Object.entries(hparams))
        s.message(1, (entry) => entry.string(1, key).message(2, (v) => protoValue(v, value)));
      if (modelUri !== '') s.string(2, modelUri);
      s.double(5, startSecs);
    })
    .finish();
}

export function sessionEndContent(status: SessionStatus, endSecs: number): Uint8Array {
  return new ProtoWriter().message(4, (s) => s.varint(1, STATUS[status]).double(2, endSecs)).finish();
}

/**
 * Event{wall_time, summary{value{tag, metadata{plugin_data{"hparams", content}}, tensor}}}: the
 * tensor is TensorBoard's null tensor, an empty float vector (dtype 1, shape [0]).
 */
export function encodeHParamsEvent(wallTime: number, tag: string, content: Uint8Array): Uint8Array {
  return new ProtoWriter()
    .double(1, wallTime)
    .message(5, (summary) =>
      summary.message(1, (val) => {
        val.string(1, tag);
        val.message(8, (t) => t.varint(1, 1).message(2, (shape) => shape.message(2, () => undefined)));
        val.message(9, (m) => m.message(1, (pd) => pd.string(1, HPARAMS_PLUGIN).bytes(2, content)));
      }),
    )
    .finish();
}
