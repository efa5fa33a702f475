// One IndexedDB object store keyed by `client_id`, for what waits on the phone until the
// server has it (the message outbox, field reports). `keyedStore(db, store)` returns
// `run(mode, work)`: `work(objectStore)` runs in one transaction, and the promise gives
// the request's result once the transaction has completed (so a write is durable).

export function keyedStore(dbName, storeName) {
  let dbPromise = null;

  function db() {
    if (!dbPromise) {
      dbPromise = new Promise((resolve, reject) => {
        const request = indexedDB.open(dbName, 1);
        request.onupgradeneeded = () => {
          request.result.createObjectStore(storeName, { keyPath: "client_id" });
        };
        request.onsuccess = () => resolve(request.result);
        request.onerror = () => reject(request.error);
      });
    }
    return dbPromise;
  }

  return async function run(mode, work) {
    const database = await db();
    return new Promise((resolve, reject) => {
      const tx = database.transaction(storeName, mode);
      const result = work(tx.objectStore(storeName));
      tx.oncomplete = () => resolve(result && "result" in result ? result.result : undefined);
      tx.onerror = () => reject(tx.error);
    });
  };
}
