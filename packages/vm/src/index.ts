export * from './cpio.js';
export * from './capture.js';
export * from './channel.js';
export * from './qemu.js';
export * from './qmp.js';
export * from './session.js';
export * from './accel.js';
export * from './snapshot.js';
