// Wasm files imported statically: wrangler and vitest-pool-workers hand them over as compiled
// WebAssembly.Module objects (a `CompiledWasm` module rule), since deployed Workers refuse to
// compile wasm from bytes at run time.
declare module "*.wasm" {
  const module: WebAssembly.Module;
  export default module;
}
