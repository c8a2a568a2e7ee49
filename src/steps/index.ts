import type { StepRegistration } from '../core/contracts.js';
import aggregate from './aggregate/index.js';
import dedupe from './dedupe/index.js';
import enrich from './enrich/index.js';
import filter from './filter/index.js';
import jsonToXml from './json_to_xml/index.js';
import recipientList from './recipient_list/index.js';
import route from './route/index.js';
import scatterGather from './scatter_gather/index.js';
import setHeaders from './set_headers/index.js';
import split from './split/index.js';
import tap from './tap/index.js';
import throttle from './throttle/index.js';
import to from './to/index.js';
import transform from './transform/index.js';
import validate from './validate/index.js';
import xmlToJson from './xml_to_json/index.js';

/** Every step kind the hub ships, in the order the docs list them; a registry registers each one. */
export const builtinSteps: StepRegistration[] = [validate, transform, xmlToJson, jsonToXml, route, to, filter, split, aggregate, enrich, recipientList, scatterGather, setHeaders, tap, dedupe, throttle];
