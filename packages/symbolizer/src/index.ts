export * from './elf.js';
export * from './symbolize.js';
