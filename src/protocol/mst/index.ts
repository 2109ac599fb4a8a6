export { commonPrefixLength, keyHeight, keyFromString, keyToBytes, decodeNode, encodeNode, MstError, MissingBlockError } from './node.ts';
export { Mst, type BlockSource } from './tree.ts';
export { invertOps, normalizeOps, type RepoOp } from './invert.ts';
