export { commonPrefixLength, keyHeight, keyFromString, keyToBytes, decodeNode, encodeNode, MIXED_LAYERS, MstError, MissingBlockError } from './node.ts';
export { Mst, type BlockSource } from './tree.ts';
export { invertOps, normalizeOps, type RepoOp } from './invert.ts';
