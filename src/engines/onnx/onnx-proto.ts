/**
 * The subset of the ONNX protobuf schema (onnx/onnx.proto, IR version 8) that the exporter writes, as a protobufjs
 * JSON descriptor: field numbers and types follow the published schema, so protobufjs does the wire encoding and any
 * ONNX reader (onnxruntime, onnx.load) reads the bytes. Only messages and fields we emit are listed; unknown fields
 * are simply absent, which protobuf allows.
 */
import protobuf from 'protobufjs';

/** TensorProto.DataType values used here. */
export const DataType = { FLOAT: 1, INT32: 6, INT64: 7, DOUBLE: 11 } as const;

/** AttributeProto.AttributeType values used here. */
export const AttributeType = { FLOAT: 1, INT: 2, STRING: 3, FLOATS: 6, INTS: 7 } as const;

/** ONNX IR version 8 is what opset 17 pairs with (onnx 1.12). */
export const IR_VERSION = 8;

const SCHEMA = {
  nested: {
    onnx: {
      nested: {
        AttributeProto: {
          fields: {
            name: { type: 'string', id: 1 },
            f: { type: 'float', id: 2 },
            i: { type: 'int64', id: 3 },
            s: { type: 'bytes', id: 4 },
            floats: { rule: 'repeated', type: 'float', id: 7 },
            ints: { rule: 'repeated', type: 'int64', id: 8 },
            type: { type: 'int32', id: 20 },
          },
        },
        NodeProto: {
          fields: {
            input: { rule: 'repeated', type: 'string', id: 1 },
            output: { rule: 'repeated', type: 'string', id: 2 },
            name: { type: 'string', id: 3 },
            opType: { type: 'string', id: 4 },
            attribute: { rule: 'repeated', type: 'AttributeProto', id: 5 },
            domain: { type: 'string', id: 7 },
          },
        },
        StringStringEntryProto: {
          fields: { key: { type: 'string', id: 1 }, value: { type: 'string', id: 2 } },
        },
        OperatorSetIdProto: {
          fields: { domain: { type: 'string', id: 1 }, version: { type: 'int64', id: 2 } },
        },
        TensorProto: {
          fields: {
            dims: { rule: 'repeated', type: 'int64', id: 1 },
            dataType: { type: 'int32', id: 2 },
            name: { type: 'string', id: 8 },
            rawData: { type: 'bytes', id: 9 },
          },
        },
        TensorShapeProto: {
          fields: { dim: { rule: 'repeated', type: 'Dimension', id: 1 } },
          nested: {
            Dimension: {
              oneofs: { value: { oneof: ['dimValue', 'dimParam'] } },
              fields: { dimValue: { type: 'int64', id: 1 }, dimParam: { type: 'string', id: 2 } },
            },
          },
        },
        TypeProto: {
          oneofs: { value: { oneof: ['tensorType'] } },
          fields: { tensorType: { type: 'Tensor', id: 1 } },
          nested: {
            Tensor: {
              fields: { elemType: { type: 'int32', id: 1 }, shape: { type: 'TensorShapeProto', id: 2 } },
            },
          },
        },
        ValueInfoProto: {
          fields: { name: { type: 'string', id: 1 }, type: { type: 'TypeProto', id: 2 } },
        },
        GraphProto: {
          fields: {
            node: { rule: 'repeated', type: 'NodeProto', id: 1 },
            name: { type: 'string', id: 2 },
            initializer: { rule: 'repeated', type: 'TensorProto', id: 5 },
            docString: { type: 'string', id: 10 },
            input: { rule: 'repeated', type: 'ValueInfoProto', id: 11 },
            output: { rule: 'repeated', type: 'ValueInfoProto', id: 12 },
          },
        },
        ModelProto: {
          fields: {
            irVersion: { type: 'int64', id: 1 },
            producerName: { type: 'string', id: 2 },
            producerVersion: { type: 'string', id: 3 },
            docString: { type: 'string', id: 6 },
            graph: { type: 'GraphProto', id: 7 },
            opsetImport: { rule: 'repeated', type: 'OperatorSetIdProto', id: 8 },
            metadataProps: { rule: 'repeated', type: 'StringStringEntryProto', id: 14 },
          },
        },
      },
    },
  },
};

const root = protobuf.Root.fromJSON(SCHEMA);

/** The ModelProto message type (encode / decode / verify). */
export const ModelProto = root.lookupType('onnx.ModelProto');

export interface AttributeJson {
  name: string;
  type: number;
  f?: number;
  i?: number;
  s?: Uint8Array;
  floats?: number[];
  ints?: number[];
}

export interface NodeJson {
  input: string[];
  output: string[];
  name: string;
  opType: string;
  /** Operator set domain; '' (the default) is ONNX's own. */
  domain?: string;
  attribute: AttributeJson[];
}

export interface TensorJson {
  name: string;
  dims: number[];
  dataType: number;
  rawData: Uint8Array;
}

export interface ValueInfoJson {
  name: string;
  type: { tensorType: { elemType: number; shape: { dim: ({ dimValue: number } | { dimParam: string })[] } } };
}

export interface ModelJson {
  irVersion: number;
  producerName: string;
  producerVersion: string;
  docString?: string;
  graph: {
    name: string;
    node: NodeJson[];
    initializer: TensorJson[];
    input: ValueInfoJson[];
    output: ValueInfoJson[];
  };
  opsetImport: { domain: string; version: number }[];
  metadataProps: { key: string; value: string }[];
}

/** A graph input or output: a tensor of `elemType` whose dims are sizes or symbolic names (e.g. 'batch'). */
export function valueInfo(name: string, elemType: number, dims: readonly (number | string)[]): ValueInfoJson {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

/** Serialized ModelProto bytes; throws if the object does not fit the schema. */
export function encodeModel(model: ModelJson): Uint8Array {
  const problem = ModelProto.verify(model);
  if (problem) throw new Error(`invalid ONNX model: ${problem}`);
  return ModelProto.encode(ModelProto.fromObject(model)).finish();
}

/** The model read back (int64 fields as numbers): for tests and metadata inspection. */
export function decodeModel(bytes: Uint8Array): ModelJson {
  return ModelProto.toObject(ModelProto.decode(bytes), { longs: Number }) as ModelJson;
}
