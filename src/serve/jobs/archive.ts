/**
 * A training upload as one ZIP archive of `<class>/<image>` entries (a single top folder is
 * allowed: `photos/<class>/<image>`). Checked before anything is written: no absolute paths,
 * `..`, backslashes or drive letters (zip-slip), the declared uncompressed sizes and entry count
 * within limits (inflation is bounded by the declared size), and every image sniffed and checked
 * like any upload. Returns the files to write, by class.
 */
import { readZip } from '../../import/zip.js';
import { badRequest, tooLarge } from '../errors.js';
import { checkImage, type ImageLimits } from '../images.js';
import { CLASS_NAME } from './spec.js';

export interface ArchiveLimits extends ImageLimits {
  maxEntries: number;
  maxTotalBytes: number;
}

export async function archiveImages(zip: Buffer, name: string, limits: ArchiveLimits): Promise<{ cls: string; file: string; bytes: Buffer; format: string }[]> {
  let archive;
  try {
    archive = readZip(zip, name);
  } catch (e) {
    throw badRequest('BAD_ARCHIVE', (e as Error).message);
  }
  const files = archive.entries.filter((e) => !e.name.endsWith('/'));
  if (files.length > limits.maxEntries) throw tooLarge('ARCHIVE_TOO_LARGE', `${name}: ${files.length} entries, over the ${limits.maxEntries}-image limit`);
  const total = files.reduce((a, e) => a + e.size, 0);
  if (total > limits.maxTotalBytes) throw tooLarge('ARCHIVE_TOO_LARGE', `${name}: ${total} bytes uncompressed, over the ${limits.maxTotalBytes}-byte limit`);
  for (const e of archive.entries) {
    const parts = e.name.split('/');
    if (e.name.startsWith('/') || e.name.includes('\\') || /^[A-Za-z]:/.test(e.name) || parts.some((p) => p === '..' || p === '.')) {
      throw badRequest('ZIP_SLIP', `${name}: entry "${e.name.slice(0, 100)}" points outside the archive's folder`);
    }
  }
  const tops = new Set(files.map((e) => e.name.split('/')[0]));
  const strip = files.every((e) => e.name.split('/').length === 3) && tops.size === 1 ? 1 : 0;
  const out: { cls: string; file: string; bytes: Buffer; format: string }[] = [];
  for (const e of files) {
    const parts = e.name.split('/').slice(strip);
    if (parts.length !== 2) throw badRequest('BAD_ARCHIVE', `${name}: entry "${e.name.slice(0, 100)}" is not <class>/<image>`);
    const [cls, file] = parts;
    if (cls.startsWith('.') || file.startsWith('.') || cls === '__MACOSX') continue;
    if (!CLASS_NAME.test(cls)) throw badRequest('BAD_CLASS', `${name}: class folder ${JSON.stringify(cls.slice(0, 64))} is not allowed`);
    let bytes: Buffer;
    try {
      bytes = Buffer.from(archive.read(e.name));
    } catch (err) {
      throw badRequest('BAD_ARCHIVE', (err as Error).message);
    }
    const format = await checkImage(bytes, `${name}:${e.name}`, limits);
    out.push({ cls, file, bytes, format });
  }
  return out;
}
