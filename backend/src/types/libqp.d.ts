declare module 'libqp' {
  const libqp: {
    decode(value: string): Buffer;
    encode(value: Buffer | string): string;
    wrap(value: string, lineLength?: number): string;
  };
  export default libqp;
}
