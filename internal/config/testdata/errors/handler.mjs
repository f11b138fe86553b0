// An ES module handler, for the handler checks.
export const handler = async (event) => {
  return { batchItemFailures: [] };
};
