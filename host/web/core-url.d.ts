declare module "shadowfence:core-url" {
  const url: string;
  export default url;
}
