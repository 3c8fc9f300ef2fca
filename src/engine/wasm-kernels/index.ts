// Gradient kernels that stock tfjs-backend-wasm lacks; registered when the wasm backend is chosen.
export function registerWasmTrainingKernels(): void {}
