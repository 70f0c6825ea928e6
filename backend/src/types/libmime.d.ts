declare module 'libmime' {
  const libmime: {
    decodeWords(value: string): string;
    encodeWords(value: string, mimeWordEncoding?: 'Q' | 'B', maxLength?: number): string;
    foldLines(value: string, lineLength?: number, afterSpace?: boolean): string;
    parseHeaderValue(value: string): { value: string; params: Record<string, string> };
    buildHeaderValue(structured: { value: string; params: Record<string, string> }): string;
  };
  export default libmime;
}
