/** CI (GRAFT_REQUIRE_EXTRAS=1) has every Debian extra the suite uses: a missing one is a failure there, never a skip. */
import { test } from 'node:test';
import { assertExtras, extrasRequired, type Extra } from './extras.js';

/** The extras some test in this suite needs. */
const USED: Extra[] = ['torch', 'torchvision', 'torchaudio', 'chromium', 'redis-server', 'espeak-ng', 'sox', 'sox-mp3', 'opusenc'];

test('Debian extras used by the suite are installed where they are required', { skip: extrasRequired() ? false : 'GRAFT_REQUIRE_EXTRAS is not 1 (tests needing a missing extra skip with its apt line)' }, () => {
  assertExtras(...USED);
});
