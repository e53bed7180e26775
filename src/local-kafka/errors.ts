/**
 * A problem the operator can fix (a missing tool, a busy directory, a node that would not start):
 * the command line prints its message alone, without a stack.
 */
export class LocalKafkaError extends Error {
  override name = 'LocalKafkaError';
}
