// How the structure tests find a source file's imports: static `import`/`export … from`, side-effect
// imports (`import './x.js'`) and dynamic `import('…')`. Groups: 1 import|export, 2 `type `, 3 the static
// specifier, 4 the dynamic one.
export const IMPORT =
  /^\s*(import|export)\s+(type\s+)?(?:[^'"]*?\s+from\s+)?['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/gm;
