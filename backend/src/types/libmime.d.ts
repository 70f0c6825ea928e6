declare module 'libmime' {
  const libmime: {
    decodeWords(value: string): string;
    encodeWords(value: string, mimeWordEncoding?: 'Q' | 'B', maxLength?: number): string;
    foldLines(value: string, lineLength?: number, afterSpace?: boolean): string;
  };
  export default libmime;
}
