// The Thrift compact protocol, generically: structs are maps from field id to typed value, so a
// Parquet footer can be edited without modelling all of it, and fields we do not know round-trip unchanged.

export enum CompactType {
  Stop = 0, True = 1, False = 2, Byte = 3, I16 = 4, I32 = 5, I64 = 6, Double = 7, Binary = 8,
  List = 9, Set = 10, Map = 11, Struct = 12,
}

export type ThriftValue = boolean | number | bigint | Uint8Array | ThriftList | ThriftMap | ThriftStruct;

export interface ThriftList {
  kind: "list";
  /** List or Set, as read. */
  type: CompactType.List | CompactType.Set;
  elementType: CompactType;
  items: ThriftValue[];
}

export interface ThriftMap {
  kind: "map";
  keyType: CompactType;
  valueType: CompactType;
  entries: [ThriftValue, ThriftValue][];
}

export interface ThriftField {
  type: CompactType;
  value: ThriftValue;
}

export type ThriftStruct = Map<number, ThriftField>;

/** A struct's field value, undefined when absent. */
export function field(struct: ThriftStruct, id: number): ThriftValue | undefined {
  return struct.get(id)?.value;
}

/** An integer field as a number (i64 fields decode as bigint). */
export function asNumber(value: ThriftValue | undefined): number | undefined {
  return typeof value === "bigint" || typeof value === "number" ? Number(value) : undefined;
}

export function decodeStruct(bytes: Uint8Array): ThriftStruct {
  return new CompactReader(bytes).struct();
}

export function encodeStruct(struct: ThriftStruct): Uint8Array {
  const writer = new CompactWriter();
  writer.struct(struct);
  return writer.bytes();
}

class CompactReader {
  private position = 0;
  constructor(private readonly input: Uint8Array) {}

  private byte(): number {
    if (this.position >= this.input.length) throw new Error("thrift data ends early");
    return this.input[this.position++];
  }

  private varint(): number {
    let result = 0;
    for (let scale = 1; ; scale *= 128) {
      const b = this.byte();
      result += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) return result;
      if (scale > 2 ** 49) throw new Error("thrift varint too long");
    }
  }

  private varint64(): bigint {
    let result = 0n;
    for (let shift = 0n; ; shift += 7n) {
      const b = this.byte();
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      if (shift > 63n) throw new Error("thrift varint too long");
    }
  }

  private zigzag(): number {
    const n = this.varint();
    return n % 2 === 0 ? n / 2 : -(n + 1) / 2;
  }

  private value(type: CompactType): ThriftValue {
    switch (type) {
      case CompactType.True: return true;
      case CompactType.False: return false;
      case CompactType.Byte: return (this.byte() << 24) >> 24;
      case CompactType.I16:
      case CompactType.I32: return this.zigzag();
      case CompactType.I64: {
        const n = this.varint64();
        return (n >> 1n) ^ -(n & 1n);
      }
      case CompactType.Double: {
        const end = this.position + 8;
        if (end > this.input.length) throw new Error("thrift data ends early");
        const value = new DataView(this.input.buffer, this.input.byteOffset + this.position, 8).getFloat64(0, true);
        this.position = end;
        return value;
      }
      case CompactType.Binary: {
        const length = this.varint();
        const end = this.position + length;
        if (end > this.input.length) throw new Error("thrift data ends early");
        const value = this.input.subarray(this.position, end);
        this.position = end;
        return value;
      }
      case CompactType.List:
      case CompactType.Set: {
        const header = this.byte();
        const size = header >> 4 === 15 ? this.varint() : header >> 4;
        const elementType = (header & 0x0f) as CompactType;
        const items: ThriftValue[] = new Array(size);
        for (let i = 0; i < size; i++) {
          // Booleans inside containers are one byte each, 1 meaning true.
          items[i] = elementType === CompactType.True || elementType === CompactType.False ? this.byte() === 1 : this.value(elementType);
        }
        return { kind: "list", type, elementType, items };
      }
      case CompactType.Map: {
        const size = this.varint();
        const types = size > 0 ? this.byte() : 0;
        const keyType = (types >> 4) as CompactType;
        const valueType = (types & 0x0f) as CompactType;
        const entries: [ThriftValue, ThriftValue][] = [];
        for (let i = 0; i < size; i++) entries.push([this.value(keyType), this.value(valueType)]);
        return { kind: "map", keyType, valueType, entries };
      }
      case CompactType.Struct: return this.struct();
      default: throw new Error(`unknown thrift type ${type as number}`);
    }
  }

  struct(): ThriftStruct {
    const fields: ThriftStruct = new Map();
    let lastId = 0;
    for (;;) {
      const header = this.byte();
      if (header === CompactType.Stop) return fields;
      const type = (header & 0x0f) as CompactType;
      const delta = header >> 4;
      const id = delta === 0 ? this.zigzag() : lastId + delta;
      lastId = id;
      fields.set(id, { type, value: this.value(type) });
    }
  }
}

class CompactWriter {
  private buffer = new Uint8Array(4096);
  private length = 0;

  bytes(): Uint8Array {
    return this.buffer.slice(0, this.length);
  }

  private byte(b: number): void {
    if (this.length === this.buffer.length) {
      const grown = new Uint8Array(this.buffer.length * 2);
      grown.set(this.buffer);
      this.buffer = grown;
    }
    this.buffer[this.length++] = b;
  }

  private varint(n: number): void {
    while (n >= 0x80) {
      this.byte((n % 128) | 0x80);
      n = Math.floor(n / 128);
    }
    this.byte(n);
  }

  private varint64(n: bigint): void {
    while (n >= 0x80n) {
      this.byte(Number(n & 0x7fn) | 0x80);
      n >>= 7n;
    }
    this.byte(Number(n));
  }

  private zigzag(n: number): void {
    this.varint(n >= 0 ? n * 2 : -n * 2 - 1);
  }

  private value(type: CompactType, value: ThriftValue): void {
    switch (type) {
      case CompactType.True:
      case CompactType.False:
        return; // in a struct the field header carries the value
      case CompactType.Byte: return this.byte((value as number) & 0xff);
      case CompactType.I16:
      case CompactType.I32: return this.zigzag(value as number);
      case CompactType.I64: {
        const n = BigInt(value as bigint | number);
        return this.varint64(BigInt.asUintN(64, (n << 1n) ^ (n >> 63n)));
      }
      case CompactType.Double: {
        const bytes = new Uint8Array(8);
        new DataView(bytes.buffer).setFloat64(0, value as number, true);
        for (const b of bytes) this.byte(b);
        return;
      }
      case CompactType.Binary: {
        const bytes = value as Uint8Array;
        this.varint(bytes.length);
        for (const b of bytes) this.byte(b);
        return;
      }
      case CompactType.List:
      case CompactType.Set: {
        const list = value as ThriftList;
        const size = list.items.length;
        this.byte((size < 15 ? size << 4 : 0xf0) | list.elementType);
        if (size >= 15) this.varint(size);
        const isBool = list.elementType === CompactType.True || list.elementType === CompactType.False;
        for (const item of list.items) {
          if (isBool) this.byte(item ? 1 : 2);
          else this.value(list.elementType, item);
        }
        return;
      }
      case CompactType.Map: {
        const map = value as ThriftMap;
        this.varint(map.entries.length);
        if (map.entries.length > 0) this.byte((map.keyType << 4) | map.valueType);
        for (const [k, v] of map.entries) {
          this.value(map.keyType, k);
          this.value(map.valueType, v);
        }
        return;
      }
      case CompactType.Struct: return this.struct(value as ThriftStruct);
      default: throw new Error(`unknown thrift type ${type as number}`);
    }
  }

  struct(fields: ThriftStruct): void {
    let lastId = 0;
    for (const id of [...fields.keys()].sort((a, b) => a - b)) {
      const { type, value } = fields.get(id)!;
      const wireType = type === CompactType.True || type === CompactType.False
        ? (value ? CompactType.True : CompactType.False) : type;
      const delta = id - lastId;
      if (delta > 0 && delta <= 15) {
        this.byte((delta << 4) | wireType);
      } else {
        this.byte(wireType);
        this.zigzag(id);
      }
      lastId = id;
      this.value(type, value);
    }
    this.byte(CompactType.Stop);
  }
}
