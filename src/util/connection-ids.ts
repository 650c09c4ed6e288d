// Downstream connection ids (connection.id, connection_id): one sequence for every listener, HTTP and TCP,
// as Envoy numbers its connections process-wide.

const ids = new WeakMap<object, number>();
let next = 1;

/** The id of a downstream connection (its socket), given on first use. */
export function connectionId(socket: object): number {
  let id = ids.get(socket);
  if (id === undefined) {
    id = next++;
    ids.set(socket, id);
  }
  return id;
}
