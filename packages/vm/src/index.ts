export * from './cpio.js';
export * from './capture.js';
export * from './qemu.js';
export * from './run.js';
export * from './accel.js';
