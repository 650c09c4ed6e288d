// The source language of a Wasm module, from its `producers` custom section (the tool conventions
// section compilers write: fields "language" and "processed-by", each a list of name/version pairs), so
// the hub's search can filter by it. Modules without the section (or an unreadable one) have no language.

/** Languages as the hub shows and filters them, in the order the search page offers them. */
export const LANGUAGES = ['C', 'C++', 'Rust', 'Go', 'AssemblyScript', 'Zig'] as const;

/** The section's fields: name -> the values' names (versions dropped). */
export function readProducers(section: Uint8Array): Map<string, string[]> | undefined {
  let at = 0;
  const leb = (): number => {
    let v = 0;
    let shift = 0;
    for (;;) {
      const b = section[at++];
      if (b === undefined || shift > 28) throw new RangeError('truncated');
      v += (b & 0x7f) * 2 ** shift;
      shift += 7;
      if (!(b & 0x80)) return v;
    }
  };
  const text = (): string => {
    const n = leb();
    if (at + n > section.length) throw new RangeError('truncated');
    const s = new TextDecoder().decode(section.subarray(at, at + n));
    at += n;
    return s;
  };
  try {
    const fields = new Map<string, string[]>();
    for (let i = leb(); i > 0; i--) {
      const name = text();
      const values: string[] = [];
      for (let j = leb(); j > 0; j--) {
        values.push(text());
        text(); // version
      }
      fields.set(name, values);
    }
    return fields;
  } catch {
    return undefined;
  }
}

/** "C99" -> C, "C++14" -> C++, "Rust" -> Rust (over C); else from the toolchain (TinyGo, AssemblyScript). */
export function moduleLanguage(section: Uint8Array | undefined): string | undefined {
  const fields = section && readProducers(section);
  if (!fields) return undefined;
  const named = (fields.get('language') ?? []).map((l) =>
    /^c\+\+/i.test(l)
      ? 'C++'
      : /^c\d*$/i.test(l)
        ? 'C'
        : LANGUAGES.find((k) => k.toLowerCase() === l.toLowerCase()),
  );
  // A Rust or C++ module often lists C too (its libc objects): the other language is the source's.
  const language = named.find((l) => l && l !== 'C') ?? named.find((l) => l === 'C');
  if (language) return language;
  const tools = (fields.get('processed-by') ?? []).map((t) => t.toLowerCase());
  if (tools.some((t) => t.includes('tinygo') || t === 'go')) return 'Go';
  if (tools.some((t) => t.includes('assemblyscript'))) return 'AssemblyScript';
  if (tools.some((t) => t === 'rustc')) return 'Rust';
  return undefined;
}
