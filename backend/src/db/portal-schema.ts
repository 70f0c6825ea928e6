/** The message portal's tables (filled by the portal issue). */
export {};
