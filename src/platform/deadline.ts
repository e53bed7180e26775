/**
 * Waits for `work` to settle, for at most `ms`: true when it did (fulfilled or rejected), false
 * when the time ran out first. Never rejects. For shutdown steps that depend on a remote party (a
 * broker that died, a coordinator that moved): a close must end, whatever the client does.
 */
export async function settledWithin(work: Promise<unknown> | undefined, ms: number): Promise<boolean> {
  if (work === undefined) return true;
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([
      work.then(
        () => true,
        () => true,
      ),
      timedOut,
    ]);
  } finally {
    clearTimeout(timer);
  }
}
