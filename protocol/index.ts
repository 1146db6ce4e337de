/**
 * ringkv binary protocol v1: the public entry. PROTOCOL.md is the normative
 * spec; vectors/ holds exact frames for every message.
 */
export * from './opcodes.js';
export { FrameDecoder, decodeFrame, invalidHeader, invalidLength, isResponse, writeHeader } from './frame.js';
export type { Frame, FrameDecoderOptions } from './frame.js';
export {
  OPS,
  closesConnection,
  decodeMessage,
  encode,
  encodeInto,
  encodedSize,
  toKvError,
  writeFrame,
} from './messages.js';
export type {
  Auth,
  AuthReply,
  Delete,
  DeleteReply,
  ErrorMessage,
  Get,
  GetReply,
  Hello,
  HelloOk,
  Message,
  MessageOp,
  NodeMessage,
  Ping,
  Pong,
  Put,
  PutReply,
  Reply,
  Request,
  Ring,
  RingReply,
  Sibling,
  Stat,
  Stats,
  StatsReply,
} from './messages.js';
export { FrameWriter, PIPELINE_FRAMES } from './writer.js';
export { RETRYABLE_CODES, StreamIds, acceptHello, chooseVersion, errorMessage, nextStreamId } from './handshake.js';
export type { AcceptorInfo } from './handshake.js';
export { fromHex, messageFromJson, messageToJson, toHex } from './json.js';
export type { JsonMessage } from './json.js';
export type { FrameWriterOptions } from './writer.js';
export {
  FORWARD_OPS,
  MAX_BATCH_ITEMS,
  MAX_COUNTER,
  PEER_STATUSES,
  PeerOpcode,
  REPLY_TYPE,
  decodePeerReply,
  decodePeerRequest,
  decodeRingBody,
  encodePeer,
  encodePeerBody,
  encodeRingBody,
  peerFromJson,
  peerToJson,
  peerToMessage,
  ringBodyOf,
  ringFromJson,
  ringOwnerIds,
  ringToJson,
} from './peer.js';
export type { PeerJson, PeerReplyType, PeerRequestType, RingBody, RingMember } from './peer.js';
export type * from './peer_messages.js';
