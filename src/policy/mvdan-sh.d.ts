// The parts of mvdan-sh (GopherJS build of mvdan.cc/sh) that facts.ts uses; the package ships no types.
declare module 'mvdan-sh' {
  export interface Node {
    [field: string]: unknown;
  }
  export const syntax: {
    NewParser(): { Parse(src: string, name: string): Node };
    Walk(node: Node, visit: (node: Node | null) => boolean): void;
    NodeType(node: Node): string;
  };
}
