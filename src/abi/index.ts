export * from './byte-buffer.js';
export * from './constants.js';
export * from './header-map.js';
export * from './memory.js';
export * from './property-codec.js';
export * from './utf8.js';
