/**
 * The key that keeps one customer's events in order on every transport. A customer id is the
 * merchant's own (two merchants may both have `cus_alice`), so the key names the merchant too:
 * `acct_.../cus_alice`. Customer ids cannot contain `/`, and merchant ids have a fixed shape, so the
 * key is unambiguous.
 */
export function customerPartitionKey(merchantId: string, customerId: string): string {
  return `${merchantId}/${customerId}`;
}
