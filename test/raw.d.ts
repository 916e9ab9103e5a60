// Vite's `?raw` imports (text files inlined by the test bundler).
declare module "*?raw" {
  const text: string;
  export default text;
}
