package hub.cxf;

import hub.cxf.shipping.GetShippingQuote;
import hub.cxf.shipping.GetShippingQuoteResponse;
import hub.cxf.shipping.ShippingQuotePortType;
import hub.cxf.shipping.ShippingQuoteService;
import jakarta.xml.soap.SOAPFault;
import org.apache.cxf.binding.soap.SoapFault;
import jakarta.xml.ws.BindingProvider;
import jakarta.xml.ws.WebServiceException;
import jakarta.xml.ws.handler.MessageContext;
import jakarta.xml.ws.soap.SOAPFaultException;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.math.BigDecimal;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import javax.xml.namespace.QName;

/**
 * A plain CXF client of the hub's shipping-quote SOAP source, built by wsdl2java from the WSDL the hub serves, with
 * CXF's defaults. Usage: java hub.cxf.Client WSDL_URL, then one case per line on stdin, tab-separated:
 * NAME, VERSION (1.1 or 1.2), WeightKg, FromCountry, ToCountry, and HTTP headers (NAME=VALUE;NAME=VALUE, or empty).
 * Prints one JSON object per case: {"ok":true,...the reply} or {"ok":false,"fault":{...}} or {"ok":false,"error":{...}}.
 */
public final class Client {
  public static void main(String[] args) throws Exception {
    ShippingQuoteService service = new ShippingQuoteService(new URL(args[0]));
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    String line;
    while ((line = in.readLine()) != null) {
      if (line.isBlank()) continue;
      System.out.println(call(service, line.split("\t", -1)));
      System.out.flush();
    }
  }

  private static String call(ShippingQuoteService service, String[] f) {
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("name", f[0]);
    ShippingQuotePortType port = "1.2".equals(f[1]) ? service.getShippingQuoteSoap12Port() : service.getShippingQuoteSoap11Port();
    BindingProvider bp = (BindingProvider) port;
    out.put("address", bp.getRequestContext().get(BindingProvider.ENDPOINT_ADDRESS_PROPERTY));
    if (f.length > 5 && !f[5].isEmpty()) {
      Map<String, List<String>> headers = new LinkedHashMap<>();
      for (String h : f[5].split(";")) {
        int eq = h.indexOf('=');
        headers.put(h.substring(0, eq), List.of(h.substring(eq + 1)));
      }
      bp.getRequestContext().put(MessageContext.HTTP_REQUEST_HEADERS, headers);
    }
    GetShippingQuote request = new GetShippingQuote();
    request.setWeightKg(new BigDecimal(f[2]));
    request.setFromCountry(f[3]);
    request.setToCountry(f[4]);
    try {
      GetShippingQuoteResponse reply = port.getShippingQuote(request);
      out.put("ok", true);
      Map<String, Object> r = new LinkedHashMap<>();
      r.put("carrier", reply.getCarrier());
      r.put("amount", reply.getAmount().toPlainString());
      r.put("currency", reply.getCurrency());
      r.put("days", reply.getDays());
      out.put("reply", r);
    } catch (SOAPFaultException e) {
      SOAPFault fault = e.getFault();
      Map<String, Object> m = new LinkedHashMap<>();
      QName code = fault.getFaultCodeAsQName();
      m.put("code", code.getLocalPart());
      m.put("codeNamespace", code.getNamespaceURI());
      List<Object> subcodes = new ArrayList<>();
      try {
        for (Iterator<QName> it = fault.getFaultSubcodes(); it.hasNext(); ) subcodes.add(it.next().getLocalPart());
      } catch (UnsupportedOperationException soap11) {
        // SOAP 1.1 has no subcodes.
      }
      m.put("subcodes", subcodes);
      m.put("reason", fault.getFaultString());
      m.put("detail", fault.getDetail() == null ? null : fault.getDetail().getTextContent());
      out.put("ok", false);
      out.put("fault", m);
    } catch (WebServiceException e) {
      if (e.getCause() instanceof SoapFault fault) {
        // CXF read the fault; without a SAAJ implementation on the classpath JAX-WS hands it over as the cause of a
        // WebServiceException rather than as a SOAPFaultException: the same fault, read from CXF's own SoapFault.
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("code", fault.getFaultCode().getLocalPart());
        m.put("codeNamespace", fault.getFaultCode().getNamespaceURI());
        List<Object> subcodes = new ArrayList<>();
        if (fault.getSubCodes() != null) for (QName q : fault.getSubCodes()) subcodes.add(q.getLocalPart());
        m.put("subcodes", subcodes);
        m.put("reason", fault.getReason());
        m.put("detail", fault.getDetail() == null ? null : fault.getDetail().getTextContent());
        out.put("ok", false);
        out.put("fault", m);
        Object status = bp.getResponseContext() == null ? null : bp.getResponseContext().get(MessageContext.HTTP_RESPONSE_CODE);
        out.put("httpStatus", status);
        return json(out);
      }
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("exception", e.getClass().getName());
      m.put("message", String.valueOf(e.getMessage()));
      m.put("cause", e.getCause() == null ? null : e.getCause().getClass().getName() + ": " + e.getCause().getMessage());
      out.put("ok", false);
      out.put("error", m);
    }
    Object status = bp.getResponseContext() == null ? null : bp.getResponseContext().get(MessageContext.HTTP_RESPONSE_CODE);
    out.put("httpStatus", status);
    return json(out);
  }

  private static String json(Object v) {
    if (v == null) return "null";
    if (v instanceof Boolean || v instanceof Number) return v.toString();
    if (v instanceof Map<?, ?> map) {
      StringBuilder b = new StringBuilder("{");
      for (Map.Entry<?, ?> e : map.entrySet()) {
        if (b.length() > 1) b.append(',');
        b.append(json(String.valueOf(e.getKey()))).append(':').append(json(e.getValue()));
      }
      return b.append('}').toString();
    }
    if (v instanceof List<?> list) {
      StringBuilder b = new StringBuilder("[");
      for (Object o : list) {
        if (b.length() > 1) b.append(',');
        b.append(json(o));
      }
      return b.append(']').toString();
    }
    StringBuilder b = new StringBuilder("\"");
    for (char c : v.toString().toCharArray()) {
      if (c == '"' || c == '\\') b.append('\\').append(c);
      else if (c < 0x20) b.append(String.format("\\u%04x", (int) c));
      else b.append(c);
    }
    return b.append('"').toString();
  }
}
